from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.entry_list, name="entry_list"),
    path("<int:seq>/", views.entry_detail, name="entry_detail"),
    path("verify/", views.chain_verify, name="chain_verify"),
]
