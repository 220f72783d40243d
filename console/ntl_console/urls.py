from __future__ import annotations

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve
from web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("register/", views.register_view, name="register"),
    path("users/", views.users_list, name="users"),
    path("users/<int:pk>/", views.user_edit, name="user_edit"),
    path("users/<int:pk>/delete/", views.user_delete, name="user_delete"),
    path("users/<int:pk>/password/", views.user_password, name="user_password"),
    path("audit/", views.audit_list, name="audit"),
    path("ranking/", views.ranking_view, name="ranking"),
    path("customers/<str:customer_id>/", views.customer_view, name="customer"),
    path("requests/", views.requests_list, name="requests"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/from-campaign/", views.request_from_campaign, name="request_from_campaign"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/edit/", views.request_edit, name="request_edit"),
    path("requests/<int:pk>/delete/", views.request_delete, name="request_delete"),
    path("requests/<int:pk>/export.xlsx", views.request_export, name="request_export"),
    path("requests/<int:pk>/import/", views.results_import, name="results_import"),
    path("lines/<int:pk>/result/", views.line_result, name="line_result"),
    path("results/", views.results_view, name="results"),
    path("models/", views.models_view, name="models"),
    path("models/register/", views.model_register, name="model_register"),
    path("predict/", views.predict_view, name="predict"),
    # The console's few static files ship with it and are served by the app itself (no CDN, no extra server).
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}),
]
