"""Small pieces both the shop and payments use (money and interval wording, money form fields).
No Django app, no models: neither side owns them, so neither has to import the other."""
