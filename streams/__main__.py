from streams.cli.root import main

main()
