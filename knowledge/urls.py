from django.urls import path

from knowledge import views

app_name = "knowledge"
urlpatterns = [path("", views.index, name="index")]
