import sys

if sys.argv[1:2] == ["--child"]:  # one measurement, started by measure.measure()
    from .measure import child_main

    child_main(sys.argv[2])
else:
    from .runner import main

    main()
