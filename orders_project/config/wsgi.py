from servicekit.wsgi import service_application

# Orders publishes tasks: its traces follow them into the worker.
application = service_application(service="orders", celery=True)
