from rest_framework.routers import DefaultRouter

from provisioning.api import views

router = DefaultRouter()
router.register("templates", views.TemplateViewSet, basename="provisioning-template")
router.register("requests", views.RequestViewSet, basename="provisioning-request")
router.register("environments", views.EnvironmentViewSet, basename="provisioning-environment")
router.register("runs", views.RunViewSet, basename="provisioning-run")
urlpatterns = router.urls
