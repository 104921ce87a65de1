try:
    from curator.celery import app as celery_app
except ModuleNotFoundError as error:
    # The pure layers (curator.algorithms, curator.hashing, curator.public_data) are also used
    # where only the ML stack is installed: the GPU benchmark machine has no Celery or Django.
    # Anywhere the project itself runs, Celery is installed and this branch is never taken.
    if error.name != "celery":
        raise

__all__ = ["celery_app"]
