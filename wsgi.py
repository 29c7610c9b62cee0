from webhooks import create_process_app

app = create_process_app()
