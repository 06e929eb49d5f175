from rest_framework.routers import DefaultRouter

from scaffolder.api import views

router = DefaultRouter()
router.register("templates", views.TemplateViewSet, basename="scaffolder-template")
router.register("runs", views.RunViewSet, basename="scaffolder-run")
urlpatterns = router.urls
