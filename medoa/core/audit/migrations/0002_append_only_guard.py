"""Make the audit tables append-only with database triggers (PostgreSQL and SQLite); see guard.py."""

from django.db import migrations

from medoa.core.audit.guard import install_for_migration, uninstall_for_migration


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install_for_migration, uninstall_for_migration, elidable=False)]
