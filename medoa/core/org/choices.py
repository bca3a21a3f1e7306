from django.db import models
from django.utils.translation import gettext_lazy as _


class DepartmentKind(models.TextChoices):
    HOSPITAL = "hospital", _("Hospital")
    CAMPUS = "campus", _("Campus")
    CATEGORY = "category", _("Category")
    DEPARTMENT = "department", _("Department")
    WARD = "ward", _("Ward")
    UNIT = "unit", _("Unit")


class DepartmentCategory(models.TextChoices):
    """The four families of a hospital's departments (临床 / 医技 / 职能 / 后勤)."""

    CLINICAL = "clinical", _("Clinical")
    MEDICAL_TECH = "medical_tech", _("Medical technology")
    FUNCTIONAL = "functional", _("Administrative office")
    LOGISTICS = "logistics", _("Logistics")
    LEADERSHIP = "leadership", _("Leadership")


class ActiveStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    INACTIVE = "inactive", _("Inactive")


class StaffStatus(models.TextChoices):
    ACTIVE = "active", _("Employed")  # 在职
    LEFT = "left", _("Left")  # 离职
    DISABLED = "disabled", _("Disabled")  # 停用


class Gender(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")
    UNKNOWN = "U", _("Unknown")


class Title(models.TextChoices):
    """Professional titles (职称) of Chinese hospitals."""

    CHIEF_PHYSICIAN = "chief_physician", _("Chief physician")  # 主任医师
    ASSOC_CHIEF_PHYSICIAN = "assoc_chief_physician", _("Associate chief physician")  # 副主任医师
    ATTENDING = "attending", _("Attending physician")  # 主治医师
    RESIDENT = "resident", _("Resident physician")  # 住院医师
    CHIEF_NURSE = "chief_nurse", _("Chief nurse")  # 主任护师
    ASSOC_CHIEF_NURSE = "assoc_chief_nurse", _("Associate chief nurse")  # 副主任护师
    SUPERVISOR_NURSE = "supervisor_nurse", _("Supervisor nurse")  # 主管护师
    NURSE_PRACTITIONER = "nurse_practitioner", _("Senior nurse")  # 护师
    NURSE = "nurse", _("Nurse")  # 护士
    CHIEF_TECHNICIAN = "chief_technician", _("Chief technician")  # 主任技师
    SUPERVISOR_TECHNICIAN = "supervisor_technician", _("Supervisor technician")  # 主管技师
    TECHNICIAN = "technician", _("Technician")  # 技师
    PHARMACIST = "pharmacist", _("Pharmacist")  # 药师
    ADMINISTRATIVE = "administrative", _("Administrative staff")  # 行政
    WORKER = "worker", _("Support worker")  # 工勤


class NursingLevel(models.TextChoices):
    N0 = "N0", "N0"
    N1 = "N1", "N1"
    N2 = "N2", "N2"
    N3 = "N3", "N3"
    N4 = "N4", "N4"


class RoleScope(models.TextChoices):
    """Whether a role is held for a department (dept_head) or hospital-wide (finance)."""

    DEPARTMENT = "department", _("Department role")
    HOSPITAL = "hospital", _("Hospital-wide role")


class CertificateKind(models.TextChoices):
    """The qualifications a hospital keeps on file (执业证书, 资格证书, 上岗证 …)."""

    PHYSICIAN_PRACTICE = "physician_practice", _("Physician practising certificate")  # 医师执业证书
    NURSE_PRACTICE = "nurse_practice", _("Nurse practising certificate")  # 护士执业证书
    PHYSICIAN_QUALIFICATION = "physician_qualification", _("Physician qualification certificate")
    PROFESSIONAL_TITLE = "professional_title", _("Professional and technical qualification")
    LARGE_EQUIPMENT = "large_equipment", _("Large medical equipment operator licence")  # 大型设备上岗证
    OTHER = "other", _("Other certificate")
