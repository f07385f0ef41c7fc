import re
from datetime import UTC, datetime

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors, services
from payments.auth import ServiceTokenAuthentication
from payments.models import Payment
from payments.pagination import OldestChangedFirstPagination
from payments.providers import DEFAULT_METHOD, registry
from servicekit.fields import (
    ORDER_NUMBER_PATTERN,
    VISIBLE_TEXT,
    PaymentMethodField,
    PriceField,
    TextField,
)
from servicekit.openapi import BODY_ERRORS, ORDER_NUMBER, error
from servicekit.pagination import NewestFirstPagination

ORDER_NUMBER_FORMAT = RegexValidator(f"^{ORDER_NUMBER_PATTERN}$", "8 lowercase letters or digits.")
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


# RFC 3339's date-time, nothing looser: "T" (or "t") between date and time, seconds, an optional
# fraction, and an offset or "Z". Django's own parser would also take a space, no offset (a
# local time, ambiguous) or no seconds.
RFC_3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
UPDATED_SINCE_MESSAGE = (
    "An RFC 3339 date-time with an offset, such as 2026-12-03T13:00:00.000000Z "
    "(a '+' offset must be sent as %2B)."
)


def parse_rfc_3339(value: str) -> datetime | None:
    """The moment `value` names, or None if it is not an RFC 3339 date-time (or no real one)."""
    match = RFC_3339.fullmatch(value)
    if match is None:
        return None
    fraction = match.group("fraction")
    if fraction and len(fraction) > 7:
        # Python keeps microseconds; a finer fraction is cut, never rounded up past `since`.
        value = value[: match.start("fraction") + 7] + value[match.end("fraction") :]
    try:
        # In UTC, as the database compares it: a time at the edge of the calendar
        # (0001-01-01T00:00:00+01:00) has no UTC equivalent and is refused here, not there.
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):  # a date or time that does not exist: 2026-02-30
        return None


UPDATED_SINCE = OpenApiParameter(
    "updatedSince",
    OpenApiTypes.DATETIME,
    description=(
        "Only the payments created or changed (refunded) at or after this RFC 3339 time, "
        "the least recently changed first (a payment refunded while you page moves to the "
        "end and is seen again): how a reconciler reads what changed since its last run."
    ),
)


class PaymentCollectionApi(APIView):
    """POST /payment processes an order's payment (idempotent); GET /payment lists payments."""

    # Reads too: every payment carries a customer's name and address, for Orders' eyes only.
    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]

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
        description=(
            "Every payment, newest first; with `updatedSince`, the payments changed since then, "
            "least recently changed first. Needs the token: payments carry personal data."
        ),
        parameters=[UPDATED_SINCE],
        responses={
            200: PaymentOutputSerializer(many=True),
            400: error(
                "`invalid`: a `pageSize` that is not 1 or more, or an `updatedSince` that is not "
                "an RFC 3339 date-time."
            ),
            401: UNAUTHORIZED,
            404: error("`not_found`: the cursor is not one this list handed out."),
        },
    )
    def get(self, request):
        raw_since = request.query_params.get("updatedSince")
        if raw_since is None:
            paginator, payments = self.pagination_class(), selectors.payment_list()
        else:
            since = parse_rfc_3339(raw_since)
            if since is None:
                raise serializers.ValidationError({"updatedSince": [UPDATED_SINCE_MESSAGE]})
            paginator = OldestChangedFirstPagination()
            payments = selectors.payment_list_changed_since(since=since)
        page = paginator.paginate_queryset(payments, request)
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
