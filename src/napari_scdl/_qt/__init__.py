"""The thin napari/Qt layer: dock widgets over the GUI-free core."""
