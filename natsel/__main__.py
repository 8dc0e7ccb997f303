from natsel.cli import main

main()
