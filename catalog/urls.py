from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.index, name="index"),
    path("<str:kind>/<str:namespace>/<str:name>/", views.entity, name="entity"),
]
