"""Pure ``torch.nn.Module`` networks: they see only tensors, never an AnnData.

One network per file (``_vae.py``, ``_autoencoder.py``, ``_gat.py``, ``_gnn_impute.py``,
``_gcn.py``); the AnnData glue lives in the model classes of :mod:`napari_scdl.models`.
"""
