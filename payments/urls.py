from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("return/<str:route>/<str:token>/", views.payment_return, name="return"),
    path("webhooks/<str:provider>/", views.webhook, name="webhook"),
]
