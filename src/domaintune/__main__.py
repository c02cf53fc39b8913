from domaintune.cli import main

main()
