from s3sync.cli import main

main()
