"""The portal: the physicians' web viewer (a backend-for-frontend; docs/portal.md)."""
