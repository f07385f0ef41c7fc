import functools
import json
import re
from datetime import UTC

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import idempotency, ratelimit, selectors, services
from orders.exceptions import RateLimited
from orders.models import Order, OrderEventKind, OrderState
from servicekit.fast_post import FastPostMixin
from servicekit.fields import VISIBLE_TEXT, PaymentMethodField, PriceField, TextField
from servicekit.openapi import BODY_ERRORS, ORDER_NUMBER, error
from servicekit.pagination import NewestFirstPagination

MONEY = {"max_digits": 12, "decimal_places": 2}
IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_META = "HTTP_IDEMPOTENCY_KEY"
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]+$"  # printable ASCII
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)
NOT_FOUND = error("`order_not_found`: no order has this number.")


class OrderOutputSerializer(serializers.ModelSerializer):
    orderNumber = serializers.CharField(source="number")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    paymentMethod = serializers.CharField(source="payment_method")

    class Meta:
        model = Order
        fields = [
            "orderNumber",
            "name",
            "address",
            "price",
            "paymentMethod",
            "state",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = fields
        ref_name = "Order"


# The same rendering as OrderOutputSerializer (which documents it in the schema), without
# building a serializer for every answer: DRF deep-copies its declared fields per instance, 12 %
# of a POST's CPU (docs/performance.md). DRF's own fields do the formatting, so the text is the
# same; tests/orders/test_apis.py keeps the two identical.
_PRICE = serializers.DecimalField(**MONEY)
# In UTC, as the format's Z says (DATETIME_FORMAT, servicekit/settings.py; TIME_ZONE is UTC):
# bound once rather than read from the thread's current timezone at every call, an asgiref
# lookup that was a third of a webhook payload's rendering (orders/webhooks/payloads.py).
_DATETIME = serializers.DateTimeField(default_timezone=UTC)


def order_representation(order: Order) -> dict:
    return {
        "orderNumber": order.number,
        "name": order.name,
        "address": order.address,
        "price": _PRICE.to_representation(order.price),
        "paymentMethod": order.payment_method,
        "state": str(order.state),
        "createdAt": _DATETIME.to_representation(order.created_at),
        "updatedAt": _DATETIME.to_representation(order.updated_at),
    }


def idempotency_key_of(request) -> str | None:
    """The optional Idempotency-Key header: 1 to 255 printable ASCII characters (the schema's
    rule, checked with one regex rather than a serializer per request)."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is not None and not (len(key) <= 255 and _IDEMPOTENCY_KEY_RE.fullmatch(key)):
        raise ValidationError({IDEMPOTENCY_KEY: ["Use 1 to 255 printable ASCII characters."]})
    return key


# The answers of a POST /order while ORDERS_CREATE_RATE_LIMIT is on (orders/ratelimit.py).
RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        "RateLimit-Policy",
        str,
        OpenApiParameter.HEADER,
        description='The client\'s limit: `"create";q=<requests>;w=<seconds>` (IETF draft '
        "httpapi-ratelimit-headers). Sent while ORDERS_CREATE_RATE_LIMIT is on.",
        response=[201, 429],
    ),
    OpenApiParameter(
        "RateLimit",
        str,
        OpenApiParameter.HEADER,
        description='What is left of it: `"create";r=<requests left>;t=<seconds>`, t being when '
        "the quota is whole again, or on a 429 when the next request is taken.",
        response=[201, 429],
    ),
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        description="Seconds until this client's next order is taken.",
        response=[429],
    ),
]


class OrderCollectionApi(FastPostMixin, APIView):
    """POST /order creates an order; GET /order lists them, newest first. A plain POST (no
    Idempotency-Key) is answered by fast_post, outside DRF's request cycle
    (servicekit/fast_post.py); every other request by post() and get(). Every POST takes a token
    of its client's rate limit first (orders/ratelimit.py), whichever path answers it."""

    class InputSerializer(serializers.Serializer):
        name = TextField(max_length=200, validators=[VISIBLE_TEXT])
        address = TextField(max_length=500, validators=[VISIBLE_TEXT])
        price = PriceField(min_value=0, **MONEY)
        paymentMethod = PaymentMethodField(
            enabled=lambda: settings.ORDERS_PAYMENT_METHODS,
            required=False,
            default="card",
            help_text="How the order is paid: one of ORDERS_PAYMENT_METHODS (Payments' "
            "GET /payment/methods describes them); `card` if left out.",
        )

        class Meta:
            ref_name = "OrderCreate"

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(
            choices=OrderState.choices, required=False, help_text="Only the orders in this state."
        )

    # Not used by APIView itself: get() paginates with it, and the schema reads it from here.
    pagination_class = NewestFirstPagination

    @extend_schema(
        operation_id="order_create",
        description="Creates an order in state `created`; its payment is requested at once.",
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_KEY,
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": IDEMPOTENCY_KEY_PATTERN,
                },
                OpenApiParameter.HEADER,
                description=(
                    "Makes a retry safe: the same key and body again get the first answer "
                    "(with `Idempotent-Replayed: true`) instead of a second order. A UUID."
                ),
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                {"type": "string", "enum": ["true"]},
                OpenApiParameter.HEADER,
                description="Set when this is the stored answer to an earlier request.",
                response=[201],
            ),
            *RATE_LIMIT_HEADERS,
        ],
        responses={
            201: OrderOutputSerializer,
            **BODY_ERRORS,
            409: error("`idempotency_key_reused`: this key came with another body before."),
            429: error(
                "`rate_limited`: this client sent more orders than ORDERS_CREATE_RATE_LIMIT "
                "allows; retry after Retry-After seconds."
            ),
        },
    )
    def post(self, request):
        key = idempotency_key_of(request)
        order_fields = _order_fields(_order_input().run_validation(request.data))
        if key is None:
            order = services.order_create(**order_fields)
            return Response(order_representation(order), status=status.HTTP_201_CREATED)
        stored, replayed = idempotency.order_create_idempotent(
            idempotency_key=key, render=order_representation, **order_fields
        )
        # The first answer too comes from the stored text, so that every replay is identical.
        return Response(
            json.loads(stored.response_body),
            status=status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true"} if replayed else None,
        )

    def dispatch(self, request, *args, **kwargs):
        verdict = ratelimit.order_create_verdict(request.META) if request.method == "POST" else None
        if verdict is None:  # not a POST, no limit, or Redis did not answer
            return super().dispatch(request, *args, **kwargs)
        if verdict.allowed:
            response = super().dispatch(request, *args, **kwargs)
        else:  # refused before the body is read: a client over its limit costs one round trip
            message = f"Too many orders from this client; retry in {verdict.reset_seconds} s."
            response = self.error_response(RateLimited(message))
        for header, value in verdict.headers().items():
            response[header] = value
        return response

    def fast_post_serializer(self) -> serializers.Serializer:
        return _order_input()

    def fast_post_headers_allowed(self, meta) -> bool:
        return IDEMPOTENCY_KEY_META not in meta  # its replays are post()'s to answer

    def fast_post(self, request, validated_data: dict):
        try:
            order = services.order_create(**_order_fields(validated_data))
        except Exception as exc:  # the database went away, say: a 503, as post() answers it
            return self.error_response(exc)
        return self.json_response(order_representation(order), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="order_list",
        description="Every order, newest first; follow `next` for the next page.",
        parameters=[FilterSerializer],
        responses={
            200: OrderOutputSerializer(many=True),
            400: error("`invalid`: an unknown `state`, or a `pageSize` that is not 1 or more."),
            404: error("`not_found`: the cursor is not one this list handed out."),
        },
    )
    def get(self, request):
        # A plain dict, not the QueryDict: DRF would take "?state=" for no filter at all.
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.order_list(**filters.validated_data), request)
        return paginator.get_paginated_response([order_representation(order) for order in page])


def _order_fields(validated_data: dict) -> dict:
    """services.order_create's arguments from the body's validated fields."""
    fields = dict(validated_data)
    fields["payment_method"] = fields.pop("paymentMethod")
    return fields


@functools.cache
def _order_input() -> serializers.Serializer:
    """One InputSerializer for every POST /order, as DRF's ListSerializer keeps one child for
    every item: run_validation() reads its fields and keeps no state of the request, and building
    a serializer per request deep-copies its declared fields (8 % of the request's CPU under
    load, docs/performance.md). It raises the same ValidationError as is_valid() would."""
    return OrderCollectionApi.InputSerializer()


class OrderStatusApi(APIView):
    class OutputSerializer(serializers.Serializer):
        orderNumber = serializers.CharField(source="number")
        state = serializers.ChoiceField(choices=OrderState.choices)
        updatedAt = serializers.DateTimeField(source="updated_at")

        class Meta:
            ref_name = "OrderStatus"

    @extend_schema(
        operation_id="order_status",
        description="The state of an order and when it was entered.",
        parameters=[ORDER_NUMBER],
        responses={200: OutputSerializer, 404: NOT_FOUND},
    )
    def get(self, request, order_number: str):
        order = selectors.order_get(order_number=order_number)
        # What OutputSerializer documents, without a serializer per answer (see above).
        return Response(
            {
                "orderNumber": order.number,
                "state": str(order.state),
                "updatedAt": _DATETIME.to_representation(order.updated_at),
            }
        )


class OrderDetailApi(APIView):
    class OutputSerializer(OrderOutputSerializer):
        class HistorySerializer(serializers.Serializer):
            # "from" is a Python keyword: declared in the fields mapping below.
            to = serializers.ChoiceField(choices=OrderState.choices, source="to_state")
            at = serializers.DateTimeField(source="created_at")
            reason = serializers.CharField()

            class Meta:
                ref_name = "OrderStateChange"

            def get_fields(self):
                # null on the first row: an order comes from no previous state.
                from_state = serializers.ChoiceField(
                    choices=OrderState.choices, source="from_state", allow_null=True
                )
                return {"from": from_state, **super().get_fields()}

        class EventSerializer(serializers.Serializer):
            kind = serializers.ChoiceField(choices=OrderEventKind.choices)
            detail = serializers.CharField(help_text="What happened, in words.")
            data = serializers.DictField(
                help_text="The facts of the kind, structured (states, amounts, codes): "
                "read these, not `detail`. Empty for `note`."
            )
            transactionId = serializers.CharField(
                source="transaction_id",
                allow_blank=True,
                help_text="Payments' transaction id, or empty.",
            )
            actor = serializers.CharField(help_text="Who or what caused it.")
            at = serializers.DateTimeField(source="created_at")

            class Meta:
                ref_name = "OrderEvent"

        history = HistorySerializer(many=True)
        events = EventSerializer(many=True)

        class Meta(OrderOutputSerializer.Meta):
            fields = [*OrderOutputSerializer.Meta.fields, "history", "events"]
            ref_name = "OrderDetail"

    @extend_schema(
        operation_id="order_detail",
        description=(
            "An order with its state history (each change of state, oldest first) and its "
            "events (what happened without changing its state: a payment result after "
            "cancellation, a refund), oldest first."
        ),
        parameters=[ORDER_NUMBER],
        responses={200: OutputSerializer, 404: NOT_FOUND},
    )
    def get(self, request, order_number: str):
        order = selectors.order_get_with_history(order_number=order_number)
        return Response(self.OutputSerializer(order).data)


class OrderCancelApi(APIView):
    @extend_schema(
        operation_id="order_cancel",
        description=(
            "Cancels an order that is `created` or `confirmed`; a charged one is refunded. "
            "Reads no body."
        ),
        parameters=[ORDER_NUMBER],
        request=None,
        responses={
            200: OrderOutputSerializer,
            404: NOT_FOUND,
            409: error("`illegal_transition`: the order is already delivered or cancelled."),
        },
    )
    def put(self, request, order_number: str):
        order = services.order_cancel(order_number=order_number)
        return Response(order_representation(order))
