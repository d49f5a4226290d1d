from smtpdiag._entry import run

run()
