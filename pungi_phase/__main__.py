from .pungi_koji import main

main()
