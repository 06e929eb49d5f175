from django.urls import path
from rest_framework.routers import DefaultRouter

from knowledge.api import views

router = DefaultRouter()
router.register("spaces", views.SpaceViewSet, basename="knowledge-space")
router.register("pages", views.PageViewSet, basename="knowledge-page")
urlpatterns = [path("search/", views.SearchView.as_view(), name="knowledge-search"), *router.urls]
