
app_name = "flow"

urlpatterns: list = []
