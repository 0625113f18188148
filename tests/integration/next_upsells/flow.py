"""What the 29 Next emulator holds of an order: its transactions and its upsell lines."""


def provider_transactions(emulator, number):
    order = next(o for o in emulator.control("GET", "/_emulator/next/orders")["orders"] if o["number"] == number)
    return [(t["type"], t["amount"]) for t in order["transactions"]]


def upsell_lines_at_provider(emulator, number):
    order = next(o for o in emulator.control("GET", "/_emulator/next/orders")["orders"] if o["number"] == number)
    return [line["price_incl_tax"] for line in order["lines"] if line["is_upsell"]]
