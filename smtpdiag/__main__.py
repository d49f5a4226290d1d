from smtpdiag.cli import main

main()
