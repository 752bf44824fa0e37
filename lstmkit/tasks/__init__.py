"""Tasks: one package per task (forecast, lm, classify, translate, longrange, ...), each with the same layout:

    __init__.py   SPEC: the task's TaskSpec (tasks/spec.py): where its pieces live and what it can do
    config.py     the task's config dataclass (data + architecture)
    model.py      the network (nn.Module)
    task.py       the task as the engine sees it (engine.protocol.TrainingTask: batches, loss, metrics)
    <api>.py      the Python API class (fit, predict, save) and `load_saved`; it implements the inference
                  protocol (deploy.protocol.InferenceModel) and imports no training framework
    datasets.py   the built-in datasets it reads (`lstmkit datasets`)
    examples.py   a tiny model and example inputs: the registry-driven tests check every task with them
    cli.py        `lstmkit <task> <verb>`

This package imports nothing: the registry (lstmkit/registry.py) sits above the tasks and imports them; a task
never imports the registry. Adding a task: write its package and add its name to registry.TASK_PACKAGES.
"""
