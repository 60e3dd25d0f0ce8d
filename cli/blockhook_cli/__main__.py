from blockhook_cli.main import main

main()
