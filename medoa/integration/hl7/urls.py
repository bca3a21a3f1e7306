"""The HL7 pages (mounted at /integration/hl7/)."""

from django.urls import path

from . import views

app_name = "hl7"

urlpatterns = [
    path("", views.message_list, name="message_list"),
    path("messages/<int:pk>/", views.message_detail, name="message_detail"),
    path("messages/<int:pk>/reprocess/", views.message_reprocess, name="message_reprocess"),
    path("messages/reprocess-unmapped/", views.message_reprocess_unmapped, name="message_reprocess_unmapped"),
    path("mappings/", views.mapping_list, name="mapping_list"),
    path("mappings/new/", views.mapping_edit, name="mapping_create"),
    path("mappings/<int:pk>/", views.mapping_edit, name="mapping_edit"),
    path("mappings/<int:pk>/delete/", views.mapping_delete, name="mapping_delete"),
    path("senders/", views.sender_list, name="sender_list"),
    path("senders/new/", views.sender_edit, name="sender_create"),
    path("senders/<int:pk>/", views.sender_edit, name="sender_edit"),
    path("senders/<int:pk>/delete/", views.sender_delete, name="sender_delete"),
]
