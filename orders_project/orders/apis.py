import json

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import idempotency, selectors, services
from orders.models import Order, OrderState
from orders.pagination import NewestFirstPagination

MONEY = {"max_digits": 12, "decimal_places": 2}
IDEMPOTENCY_KEY = "Idempotency-Key"


class OrderOutputSerializer(serializers.ModelSerializer):
    orderNumber = serializers.CharField(source="number")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Order
        fields = ["orderNumber", "name", "address", "price", "state", "createdAt", "updatedAt"]


class OrderCollectionApi(APIView):
    """POST /order creates an order; GET /order lists them, newest first."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        address = serializers.CharField(max_length=500)
        price = serializers.DecimalField(min_value=0, **MONEY)

        def validate_price(self, value):
            # "-0" passes min_value; store and echo it as 0.00, not "-0.00" (as Payments does).
            return abs(value)

    class HeaderSerializer(serializers.Serializer):
        """The optional Idempotency-Key header: 1 to 255 printable ASCII characters."""

        def get_fields(self):
            key = serializers.RegexField(
                r"^[\x20-\x7e]+$",
                max_length=255,
                required=False,
                trim_whitespace=False,
                error_messages={"invalid": "Use 1 to 255 printable ASCII characters."},
            )
            return {IDEMPOTENCY_KEY: key}

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=OrderState.choices, required=False)

    def post(self, request):
        raw_key = request.headers.get(IDEMPOTENCY_KEY)
        headers = self.HeaderSerializer(data={} if raw_key is None else {IDEMPOTENCY_KEY: raw_key})
        headers.is_valid(raise_exception=True)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = headers.validated_data.get(IDEMPOTENCY_KEY)
        if key is None:
            order = services.order_create(**serializer.validated_data)
            return Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)
        stored, replayed = idempotency.order_create_idempotent(
            idempotency_key=key,
            render=lambda order: OrderOutputSerializer(order).data,
            **serializer.validated_data,
        )
        # The first answer too comes from the stored text, so that every replay is identical.
        return Response(
            json.loads(stored.response_body),
            status=status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true"} if replayed else None,
        )

    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(selectors.order_list(**filters.validated_data), request)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)


class OrderStatusApi(APIView):
    class OutputSerializer(serializers.Serializer):
        orderNumber = serializers.CharField(source="number")
        state = serializers.CharField()
        updatedAt = serializers.DateTimeField(source="updated_at")

    def get(self, request, order_number: str):
        order = selectors.order_get(order_number=order_number)
        return Response(self.OutputSerializer(order).data)


class OrderDetailApi(APIView):
    class OutputSerializer(OrderOutputSerializer):
        class HistorySerializer(serializers.Serializer):
            # "from" is a Python keyword: declared in the fields mapping below.
            to = serializers.CharField(source="to_state")
            at = serializers.DateTimeField(source="created_at")
            reason = serializers.CharField()

            def get_fields(self):
                return {"from": serializers.CharField(source="from_state"), **super().get_fields()}

        history = HistorySerializer(many=True)

        class Meta(OrderOutputSerializer.Meta):
            fields = [*OrderOutputSerializer.Meta.fields, "history"]

    def get(self, request, order_number: str):
        order = selectors.order_get_with_history(order_number=order_number)
        return Response(self.OutputSerializer(order).data)


class OrderCancelApi(APIView):
    def put(self, request, order_number: str):
        order = services.order_cancel(order_number=order_number)
        return Response(OrderOutputSerializer(order).data)
