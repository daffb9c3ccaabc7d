"""The demo accounts `make run` creates, so a newcomer can log in at once."""

DEMO_STAFF_USERNAME = "staff"
DEMO_STAFF_EMAIL = "staff@cobalt.example"
DEMO_STAFF_PASSWORD = "staff-demo-2026"

DEMO_CUSTOMER_EMAIL = "demo@cobalt.example"
DEMO_CUSTOMER_PASSWORD = "demo-customer-2026"
DEMO_CUSTOMER_FIRST_NAME = "Dana"
DEMO_CUSTOMER_LAST_NAME = "Demo"
DEMO_CUSTOMER_HANDLE = "dana_demo_1000"
