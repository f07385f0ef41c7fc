from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors, services
from payments.auth import ServiceTokenAuthentication
from payments.models import Payment
from payments.pagination import NewestFirstPagination


class PaymentOutputSerializer(serializers.ModelSerializer):
    orderNumber = serializers.CharField(source="order_number")
    price = serializers.DecimalField(source="amount", max_digits=12, decimal_places=2)
    transactionId = serializers.UUIDField(source="transaction_id")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    refundedAt = serializers.DateTimeField(source="refunded_at")  # null unless refunded

    class Meta:
        model = Payment
        fields = [
            "orderNumber",
            "status",
            "transactionId",
            "name",
            "address",
            "price",
            "createdAt",
            "updatedAt",
            "refundedAt",
        ]


class WritesNeedToken(permissions.BasePermission):
    """Listing is open, as in the brief; processing a payment needs the service token."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(request.auth)


class PaymentCollectionApi(APIView):
    """POST /payment processes an order's payment (idempotent); GET /payment lists payments."""

    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [WritesNeedToken]

    class InputSerializer(serializers.Serializer):
        orderNumber = serializers.RegexField(r"^[a-z0-9]{8}$", max_length=8)
        name = serializers.CharField(max_length=200)
        address = serializers.CharField(max_length=500)
        price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)

        def validate_price(self, value):
            # "-0" passes min_value; store and echo it as 0.00, not "-0.00".
            return abs(value)

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payment, created = services.payment_create(
            order_number=data["orderNumber"],
            name=data["name"],
            address=data["address"],
            amount=data["price"],
        )
        return Response(
            PaymentOutputSerializer(payment).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def get(self, request):
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(selectors.payment_list(), request)
        return paginator.get_paginated_response(PaymentOutputSerializer(page, many=True).data)


class PaymentRefundApi(APIView):
    """POST /payment/<orderNumber>/refund refunds a confirmed payment (idempotent); no body."""

    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    def post(self, request, order_number):
        payment = services.payment_refund(order_number=order_number)
        return Response(PaymentOutputSerializer(payment).data)
