from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("return/<str:route>/<str:token>/", views.payment_return, name="return"),
    path("webhooks/<str:provider>/", views.webhook, name="webhook"),
    path("widget/<str:route>/<str:token>/", views.widget, name="widget"),
    path("notify/<str:route>/<str:token>/", views.notification, name="notification"),
]
