from healthlink.cli import main

main()
