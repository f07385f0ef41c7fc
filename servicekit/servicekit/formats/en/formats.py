"""Django's English formats with times to the second, in the ISO order the logs use: the admin's
lists, inlines and History pages (Django's own en format shows "6:08 a.m.", so four history rows
within three seconds all read alike). Chosen by settings.FORMAT_MODULE_PATH; the API is not
affected (DRF writes ISO 8601 whatever the locale)."""

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
