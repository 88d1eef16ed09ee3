# The privilege-escalation suite (issue 7): runs just before the foundation's
# privileges test, after every module.  Adds no object to the extension.
REGRESS     += privesc
