from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0006_order_payment_method'),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='payment_claimed_by',
            field=models.CharField(blank=True, db_default='', default='', max_length=255, verbose_name='claimed by'),
        ),
    ]
