from django.apps import AppConfig


class ScaffolderConfig(AppConfig):
    name = "scaffolder"
    verbose_name = "Software templates"

    def ready(self) -> None:
        from portal.extensions import register_demo_seeder
        from scaffolder import demo

        register_demo_seeder("scaffolder", demo.seed, order=60)
