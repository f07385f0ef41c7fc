"""POST /payment/batch: many payments in one call, each validated and answered as POST /payment
would answer it."""

from collections.abc import Mapping

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import permissions, serializers
from rest_framework.fields import empty
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import services
from payments.apis import (
    UNAUTHORIZED,
    PaymentCollectionApi,
    PaymentOutputSerializer,
    payment_output,
)
from payments.auth import ServiceTokenAuthentication
from payments.exceptions import PaymentBatchTooLarge, PaymentInvalid
from payments.parsers import LargeBodyJSONParser
from servicekit.errors import error_body
from servicekit.openapi import BODY_ERRORS, ErrorSerializer, error


# Schema only, like PaymentOutputSerializer: PaymentBatchApi writes its answer out.
class BatchPaymentSerializer(PaymentOutputSerializer):
    replayed = serializers.BooleanField(
        help_text="False if this request stored the payment; true if it was stored before, or by "
        "an earlier item of this batch with the same order number."
    )

    class Meta(PaymentOutputSerializer.Meta):
        fields = [*PaymentOutputSerializer.Meta.fields, "replayed"]
        read_only_fields = fields
        ref_name = "BatchPayment"


class BatchPaymentErrorSerializer(serializers.Serializer):
    orderNumber = serializers.CharField(
        allow_null=True, allow_blank=True, help_text="The item's orderNumber if it is a string."
    )
    error = ErrorSerializer(
        help_text="`invalid`: the item's fields named in `errors`. `payment_conflict`: this order "
        "was paid with another price or payment method. `payment_unavailable`: its payment "
        "method cannot decide now, nothing was charged: send this order again later."
    )

    class Meta:
        ref_name = "BatchPaymentError"


@extend_schema_field(
    {
        "type": "array",
        # Any JSON value: each item is validated on its own, and answered in `results`.
        "items": {"anyOf": [{"$ref": "#/components/schemas/PaymentCreate"}, {}]},
        "minItems": 1,
        "maxItems": settings.PAYMENTS_BATCH_MAX_ITEMS,
        "description": "At most PAYMENTS_BATCH_MAX_ITEMS. Each item is a POST /payment body "
        "(PaymentCreate), validated on its own: an invalid one is answered in `results` with "
        "an `invalid` error, and the others are processed.",
    }
)
class BatchItemsField(serializers.Field):
    """A non-empty list, items unchecked: PaymentBatchApi validates each. Not a ListField, which
    would run a child field over every item before the length could be checked."""

    default_error_messages = {
        "not_a_list": 'Expected a list of payments but got type "{input_type}".',
        "empty": "Send at least one payment.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data:
            self.fail("empty")
        return data


def _order_number_of(item) -> str | None:
    number = item.get("orderNumber") if isinstance(item, Mapping) else None
    return number if isinstance(number, str) else None


class PaymentBatchApi(APIView):
    """POST /payment/batch processes many payments in one call, each as POST /payment would."""

    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    # Reads its body within PAYMENTS_BATCH_MAX_BODY_BYTES, not API_MAX_BODY_BYTES (see parsers).
    parser_classes = [LargeBodyJSONParser]

    @classmethod
    def max_body_bytes(cls) -> int:
        return settings.PAYMENTS_BATCH_MAX_BODY_BYTES

    class InputSerializer(serializers.Serializer):
        payments = BatchItemsField()

        class Meta:
            ref_name = "PaymentBatch"

        def run_validation(self, data=empty):
            # Any body that is not an object ([], null, 3) is a missing `payments` too.
            if not isinstance(data, Mapping):
                kind = type(data).__name__
                message = f'Expected an object {{"payments": [...]}} but got type "{kind}".'
                raise serializers.ValidationError({"payments": [message]})
            return super().run_validation(data)

    class OutputSerializer(serializers.Serializer):
        results = serializers.ListField(
            child=PolymorphicProxySerializer(
                component_name="BatchPaymentResult",
                serializers=[BatchPaymentSerializer, BatchPaymentErrorSerializer],
                resource_type_field_name=None,
            ),
            help_text="One entry per item, in the order sent: the payment, or the item's error.",
        )

        class Meta:
            ref_name = "PaymentBatchResults"

    @extend_schema(
        operation_id="payment_create_batch",
        description=(
            "Processes many payments in one call, each exactly as POST /payment would: once per "
            "order number, a replay answered with the stored payment (`replayed: true`), another "
            "price for a paid order a `payment_conflict`. One invalid or conflicting item never "
            "fails the others. The first item of an order number decides; a later one is "
            "answered as a replay of it."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **BODY_ERRORS,
            400: error(
                "`invalid`: the body is not an object with a non-empty list `payments` of at most "
                "PAYMENTS_BATCH_MAX_ITEMS items (named in `errors`). `parse_error`: malformed "
                "JSON, NaN or Infinity, nesting deeper than 32 levels. `bad_request`: a "
                "malformed Content-Length."
            ),
            413: error(
                "`request_too_large`: the body is over PAYMENTS_BATCH_MAX_BODY_BYTES; refused "
                "unread."
            ),
            401: UNAUTHORIZED,
        },
    )
    def post(self, request):
        envelope = self.InputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        items = envelope.validated_data["payments"]
        if len(items) > settings.PAYMENTS_BATCH_MAX_ITEMS:
            raise PaymentBatchTooLarge(limit=settings.PAYMENTS_BATCH_MAX_ITEMS, count=len(items))

        # One serializer validates every item, as DRF's ListSerializer does: building one per
        # item (DRF deep-copies its fields each time) would cost more than all the rest.
        item_serializer = PaymentCollectionApi.InputSerializer()
        requests: list[services.PaymentRequest | services.BatchItemResult] = []
        for item in items:
            try:
                data = item_serializer.run_validation(item)
            except serializers.ValidationError as exc:
                invalid = PaymentInvalid(errors=serializers.as_serializer_error(exc))
                requests.append(services.BatchItemResult(_order_number_of(item), error=invalid))
            else:
                requests.append(
                    services.PaymentRequest(
                        order_number=data["orderNumber"],
                        name=data["name"],
                        address=data["address"],
                        amount=data["price"],
                        method=data["paymentMethod"],
                    )
                )
        results = services.payment_create_batch(payments=requests)
        return Response({"results": [_batch_item_output(result) for result in results]})


def _batch_item_output(result: services.BatchItemResult) -> dict:
    """One entry of `results`: a BatchPayment or a BatchPaymentError."""
    if result.error is not None:
        error = error_body(result.error.code, result.error.message, result.error.errors)
        return {"orderNumber": result.order_number, "error": error}
    return {**payment_output(result.payment), "replayed": result.replayed}
