from django.core.validators import RegexValidator
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
)
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors, services
from payments.auth import ServiceTokenAuthentication
from payments.models import Payment
from payments.providers import DEFAULT_METHOD, registry
from servicekit.fields import VISIBLE_TEXT, PaymentMethodField, PriceField, TextField
from servicekit.openapi import BODY_ERRORS, ORDER_NUMBER, error
from servicekit.pagination import NewestFirstPagination

ORDER_NUMBER_FORMAT = RegexValidator(r"^[a-z0-9]{8}$", "8 lowercase letters or digits.")
UNAUTHORIZED = error("`not_authenticated` or `authentication_failed`: no or a wrong token.")


class PaymentOutputSerializer(serializers.ModelSerializer):
    orderNumber = serializers.CharField(source="order_number")
    price = serializers.DecimalField(source="amount", max_digits=12, decimal_places=2)
    paymentMethod = serializers.CharField(source="method")
    transactionId = serializers.UUIDField(source="transaction_id")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    refundedAt = serializers.DateTimeField(source="refunded_at", allow_null=True)  # unless refunded

    class Meta:
        model = Payment
        fields = [
            "orderNumber",
            "status",
            "transactionId",
            "name",
            "address",
            "price",
            "paymentMethod",
            "createdAt",
            "updatedAt",
            "refundedAt",
        ]
        read_only_fields = fields
        ref_name = "Payment"


# DRF's own fields do the formatting, exactly as the serializer's do.
_PRICE = serializers.DecimalField(max_digits=12, decimal_places=2)
_DATETIME = serializers.DateTimeField()


def payment_output(payment: Payment) -> dict:
    """PaymentOutputSerializer(payment).data, written out: building a ModelSerializer for each
    answer costs more than everything else in it (DRF deep-copies its fields per instance).
    The serializer stays as the schema's description; a test keeps the two identical."""
    return {
        "orderNumber": payment.order_number,
        "status": str(payment.status),
        "transactionId": str(payment.transaction_id),
        "name": payment.name,
        "address": payment.address,
        "price": _PRICE.to_representation(payment.amount),
        "paymentMethod": payment.method,
        "createdAt": _DATETIME.to_representation(payment.created_at),
        "updatedAt": _DATETIME.to_representation(payment.updated_at),
        "refundedAt": _DATETIME.to_representation(payment.refunded_at),
    }


class WritesNeedToken(permissions.BasePermission):
    """Listing is open, as in the brief; processing a payment needs the service token."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(request.auth)


class PaymentCollectionApi(APIView):
    """POST /payment processes an order's payment (idempotent); GET /payment lists payments."""

    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [WritesNeedToken]

    class InputSerializer(serializers.Serializer):
        orderNumber = TextField(max_length=8, validators=[ORDER_NUMBER_FORMAT])
        name = TextField(max_length=200, validators=[VISIBLE_TEXT])
        address = TextField(max_length=500, validators=[VISIBLE_TEXT])
        price = PriceField(max_digits=12, decimal_places=2, min_value=0)
        paymentMethod = PaymentMethodField(
            enabled=lambda: registry().names(),
            required=False,
            default=DEFAULT_METHOD,
            help_text="One of the enabled methods (GET /payment/methods); `card` if left out.",
        )

        class Meta:
            ref_name = "PaymentCreate"

    # Not used by APIView itself: get() paginates with it, and the schema reads it from here.
    pagination_class = NewestFirstPagination

    @extend_schema(
        operation_id="payment_create",
        description=(
            "Processes the payment of an order once: the same request again answers 200 with "
            "the stored result, never a second charge."
        ),
        request=InputSerializer,
        responses={
            201: OpenApiResponse(PaymentOutputSerializer, description="Processed now."),
            200: OpenApiResponse(PaymentOutputSerializer, description="Processed before."),
            **BODY_ERRORS,
            401: UNAUTHORIZED,
            409: error(
                "`payment_conflict`: this order was paid with another price or payment method."
            ),
            503: error(
                "`payment_unavailable`: the payment method cannot decide now; nothing was "
                "charged, retry later."
            ),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payment, created = services.payment_create(
            order_number=data["orderNumber"],
            name=data["name"],
            address=data["address"],
            amount=data["price"],
            method=data["paymentMethod"],
        )
        return Response(
            payment_output(payment),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="payment_list",
        description="Every payment, newest first. Needs no token.",
        auth=[],
        responses={
            200: PaymentOutputSerializer(many=True),
            400: error("`invalid`: a `pageSize` that is not 1 or more."),
            404: error("`not_found`: the cursor is not one this list handed out."),
        },
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.payment_list(), request)
        return paginator.get_paginated_response([payment_output(payment) for payment in page])


class PaymentRefundApi(APIView):
    """POST /payment/<orderNumber>/refund refunds a confirmed payment (idempotent); no body."""

    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="payment_refund",
        description=(
            "Refunds the confirmed payment of an order; again, the same answer. Reads no body."
        ),
        parameters=[ORDER_NUMBER],
        request=None,
        responses={
            200: PaymentOutputSerializer,
            401: UNAUTHORIZED,
            404: error("`payment_not_found`: there is no payment for this order."),
            409: error("`payment_not_refundable`: the payment was declined."),
        },
    )
    def post(self, request, order_number):
        payment = services.payment_refund(order_number=order_number)
        return Response(payment_output(payment))


class PaymentMethodsApi(APIView):
    """GET /payment/methods: the enabled payment methods, as PAYMENTS_METHODS configures them."""

    class OutputSerializer(serializers.Serializer):
        class MethodSerializer(serializers.Serializer):
            name = serializers.CharField(help_text="What `paymentMethod` takes.")
            description = serializers.CharField()

            class Meta:
                ref_name = "PaymentMethod"

        results = MethodSerializer(many=True)

        class Meta:
            ref_name = "PaymentMethods"

    @extend_schema(
        operation_id="payment_methods",
        description="The enabled payment methods with a short description. Needs no token.",
        auth=[],
        responses={200: OutputSerializer},
    )
    def get(self, request):
        methods = [{"name": m.name, "description": m.description} for m in registry()]
        return Response({"results": methods})
