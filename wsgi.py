from webhooks import create_app

app = create_app()
