"""Learning from feedback without a large model: corrections -> observations -> suggestions, and steering.

Plain typed Python (no Django): ``corrections`` measures what a user's correction changed, ``evidence`` turns
the observations of many feedbacks into suggestion drafts, ``steering`` learns a per-user alpha by Thompson
sampling. The service layer loads rows into the dataclasses used here and stores what comes out.
"""
