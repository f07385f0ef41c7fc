from servicekit.wsgi import service_application

application = service_application(service="payments")
