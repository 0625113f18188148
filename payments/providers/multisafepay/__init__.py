"""The `multisafepay` route's pieces that do not depend on the adapter contract: `cart.py` (shopping cart,
tax tables and amount under MultiSafepay's rounding rule), `signatures.py` (the notification `Auth`
header), `client.py` (the JSON API endpoints and typed errors), `statuses.py` (their statuses as ours),
`notifications.py` (what a notification says and its identity for dedupe); `refunds.py` (a refund amount as
cart lines) and `adapter.py` (the route itself, over the payment contract).
Notes and sources: shared/reference/multisafepay.md; emulator: emulator/multisafepay/."""
