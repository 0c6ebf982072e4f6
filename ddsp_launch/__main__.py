from ddsp_launch.cli import main

main()
