from privacy_router.cli import main

main()
