"""`trainwise fit DATA --target COL`: train the built-in MLP on a table and judge the run."""

from __future__ import annotations

from argparse import Namespace

from trainwise import distributed
from trainwise.cli.output import TrainingFailed, console, emit, exit_code, out_dir
from trainwise.cli.training import (
    data_defaults,
    fit_config,
    prepare_data,
    progress,
    run_identity,
    run_settings,
    tensorboard,
)
from trainwise.errors import InputError
from trainwise.loop import TrainingDiverged
from trainwise.report import print_summary
from trainwise.runfolder import write_run
from trainwise.tabular import fit_table


def run(args: Namespace) -> int:
    world = distributed.setup(args.device)    # under torchrun: join the group; rank 0 alone prints and writes
    if not world.is_main:
        args.quiet, args.json = True, False
    if args.resume and not args.out:
        raise InputError("--resume needs --out, the run folder to continue.")
    if args.resume and args.overwrite:
        raise InputError("--resume and --overwrite contradict each other: continue the run in --out, or replace it.")
    config = fit_config(args)                 # every setting checked before the data is read
    folder = out_dir(args.out, resume=args.resume, overwrite=args.overwrite,
                     inputs=(args.data, args.val), resumable=True) if world.is_main else None
    data = prepare_data(args)
    defaults = data_defaults(args, data)      # batch size, epochs, early stopping from the table's size
    config = fit_config(args, defaults)
    board = tensorboard(args, folder)
    callbacks = progress(args) + ([board] if board is not None else [])
    try:
        result = fit_table(data, config, hidden=args.hidden, dropout=args.dropout, callbacks=callbacks,
                           resume=args.resume, identity=run_identity(args, data) if args.out else None)
    except TrainingDiverged as exc:
        raise TrainingFailed(str(exc)) from exc
    if defaults.chosen:
        result.defaults = defaults.to_dict()
    summary = result.summary()
    if board is not None and world.is_main:
        board.log_summary(summary)
    if not world.is_main:
        return exit_code(summary["findings"], args.fail_on)
    if folder is not None:
        write_run(folder, result, settings=run_settings(args, data))
    if args.json:
        emit(args, summary)
    else:
        print_summary(summary, console(args))
        if folder is not None:
            console(args).print(f"Run folder: {folder} (open {folder / 'report.html'} in a browser)")
    return exit_code(summary["findings"], args.fail_on)
