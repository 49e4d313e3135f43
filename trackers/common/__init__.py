"""Pieces every tracker family shares; not a family itself (discovery passes it over).

* ``records``  — checks of architecture records (positive widths, known keys, version);
* ``settings`` — named tracker settings and their schema, checked once;
* ``presets``  — :class:`Preset` and the table a family's ``presets.py`` builds;
* ``crops``    — :class:`CropSpec` and the crop tensor every tracker feeds its network;
* ``images``   — ImageNet normalisation of RGB crops;
* ``boxes``    — generalised IoU of box pairs;
* ``tracking`` — the tracker interface and the model-driven tracker base;
* ``network``  — the base of every family's network;
* ``training`` — optimizer parameter groups and the forward pass on a training batch;
* ``resnet``   — the residual bottleneck's forward pass.
"""
