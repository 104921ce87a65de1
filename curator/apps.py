from django.apps import AppConfig
from django.db.models.signals import pre_save


class CuratorConfig(AppConfig):
    name = "curator"
    verbose_name = "Curator"

    def ready(self) -> None:
        from curator.models import User
        from curator.services.accounts import revoke_tokens_on_password_change

        pre_save.connect(
            revoke_tokens_on_password_change, sender=User, dispatch_uid="token-rotation"
        )
