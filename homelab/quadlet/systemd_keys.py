"""The keys systemd reads in the sections a Quadlet file passes through: [Unit], [Service],
[Install]. Lets the linter say where a misplaced key belongs (`Restart=` in [Container] belongs
in [Service]) and catch a Quadlet key systemd would ignore (`Image=` in [Service]).

Generated from systemd 257 (Debian 13, the release beside podman 5.4):
`/usr/lib/systemd/systemd --dump-configuration-items`; tests/e2e/test_systemd_keys.py checks
it against the simulated host's systemd. Newer systemd only adds keys.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


UNIT_KEYS = _words(
    """
    After AllowIsolate AssertACPower AssertArchitecture AssertCPUFeature AssertCPUPressure
    AssertCPUs AssertCapability AssertControlGroupController AssertCredential
    AssertDirectoryNotEmpty AssertEnvironment AssertFileIsExecutable AssertFileNotEmpty
    AssertFirstBoot AssertGroup AssertHost AssertIOPressure AssertKernelCommandLine
    AssertKernelVersion AssertMemory AssertMemoryPressure AssertNeedsUpdate AssertOSRelease
    AssertPathExists AssertPathExistsGlob AssertPathIsDirectory AssertPathIsEncrypted
    AssertPathIsMountPoint AssertPathIsReadWrite AssertPathIsSymbolicLink AssertSecurity
    AssertUser AssertVirtualization Before BindTo BindsTo CollectMode ConditionACPower
    ConditionArchitecture ConditionCPUFeature ConditionCPUPressure ConditionCPUs
    ConditionCapability ConditionControlGroupController ConditionCredential
    ConditionDirectoryNotEmpty ConditionEnvironment ConditionFileIsExecutable
    ConditionFileNotEmpty ConditionFirmware ConditionFirstBoot ConditionGroup ConditionHost
    ConditionIOPressure ConditionKernelCommandLine ConditionKernelVersion ConditionMemory
    ConditionMemoryPressure ConditionNeedsUpdate ConditionOSRelease ConditionPathExists
    ConditionPathExistsGlob ConditionPathIsDirectory ConditionPathIsEncrypted
    ConditionPathIsMountPoint ConditionPathIsReadWrite ConditionPathIsSymbolicLink
    ConditionSecurity ConditionUser ConditionVirtualization Conflicts DefaultDependencies
    Description Documentation FailureAction FailureActionExitStatus IgnoreOnIsolate
    JobRunningTimeoutSec JobTimeoutAction JobTimeoutRebootArgument JobTimeoutSec
    JoinsNamespaceOf OnFailure OnFailureIsolate OnFailureJobMode OnSuccess OnSuccessJobMode
    PartOf PropagateReloadFrom PropagateReloadTo PropagatesReloadTo PropagatesStopTo
    RebootArgument RefuseManualStart RefuseManualStop ReloadPropagatedFrom Requires
    RequiresMountsFor RequiresOverridable Requisite RequisiteOverridable SourcePath
    StartLimitAction StartLimitBurst StartLimitInterval StartLimitIntervalSec
    StopPropagatedFrom StopWhenUnneeded SuccessAction SuccessActionExitStatus
    SurviveFinalKillSignal Upholds Wants WantsMountsFor
    """
)

SERVICE_KEYS = _words(
    """
    AllowedCPUs AllowedMemoryNodes AmbientCapabilities AppArmorProfile BPFProgram
    BindLogSockets BindPaths BindReadOnlyPaths BlockIOAccounting BlockIODeviceWeight
    BlockIOReadBandwidth BlockIOWeight BlockIOWriteBandwidth BusName CPUAccounting CPUAffinity
    CPUQuota CPUQuotaPeriodSec CPUSchedulingPolicy CPUSchedulingPriority
    CPUSchedulingResetOnFork CPUShares CPUWeight CacheDirectory CacheDirectoryMode
    CapabilityBoundingSet ConfigurationDirectory ConfigurationDirectoryMode CoredumpFilter
    CoredumpReceive DefaultMemoryLow DefaultMemoryMin DefaultStartupMemoryLow Delegate
    DelegateSubgroup DeviceAllow DevicePolicy DisableControllers DynamicUser Environment
    EnvironmentFile ExecCondition ExecPaths ExecReload ExecSearchPath ExecStart ExecStartPost
    ExecStartPre ExecStop ExecStopPost ExitType ExtensionDirectories ExtensionImagePolicy
    ExtensionImages FailureAction FileDescriptorStoreMax FileDescriptorStorePreserve
    FinalKillSignal Group GuessMainPID IOAccounting IODeviceLatencyTargetSec IODeviceWeight
    IOReadBandwidthMax IOReadIOPSMax IOSchedulingClass IOSchedulingPriority IOWeight
    IOWriteBandwidthMax IOWriteIOPSMax IPAccounting IPAddressAllow IPAddressDeny
    IPCNamespacePath IPEgressFilterPath IPIngressFilterPath IgnoreSIGPIPE ImportCredential
    InaccessibleDirectories InaccessiblePaths KeyringMode KillMode KillSignal LimitAS LimitCORE
    LimitCPU LimitDATA LimitFSIZE LimitLOCKS LimitMEMLOCK LimitMSGQUEUE LimitNICE LimitNOFILE
    LimitNPROC LimitRSS LimitRTPRIO LimitRTTIME LimitSIGPENDING LimitSTACK LoadCredential
    LoadCredentialEncrypted LockPersonality LogExtraFields LogFilterPatterns LogLevelMax
    LogNamespace LogRateLimitBurst LogRateLimitIntervalSec LogsDirectory LogsDirectoryMode
    ManagedOOMMemoryPressure ManagedOOMMemoryPressureDurationSec ManagedOOMMemoryPressureLimit
    ManagedOOMPreference ManagedOOMSwap MemoryAccounting MemoryDenyWriteExecute MemoryHigh
    MemoryKSM MemoryLimit MemoryLow MemoryMax MemoryMin MemoryPressureThresholdSec
    MemoryPressureWatch MemorySwapMax MemoryZSwapMax MemoryZSwapWriteback MountAPIVFS
    MountFlags MountImagePolicy MountImages NFTSet NUMAMask NUMAPolicy NetworkNamespacePath
    Nice NoExecPaths NoNewPrivileges NonBlocking NotifyAccess OOMPolicy OOMScoreAdjust OpenFile
    PAMName PIDFile PassEnvironment PermissionsStartOnly Personality PrivateDevices PrivateIPC
    PrivateMounts PrivateNetwork PrivatePIDs PrivateTmp PrivateUsers ProcSubset ProtectClock
    ProtectControlGroups ProtectHome ProtectHostname ProtectKernelLogs ProtectKernelModules
    ProtectKernelTunables ProtectProc ProtectSystem ReadOnlyDirectories ReadOnlyPaths
    ReadWriteDirectories ReadWritePaths RebootArgument ReloadSignal RemainAfterExit RemoveIPC
    Restart RestartForceExitStatus RestartKillSignal RestartMaxDelaySec RestartMode
    RestartPreventExitStatus RestartSec RestartSteps RestrictAddressFamilies
    RestrictFileSystems RestrictNamespaces RestrictNetworkInterfaces RestrictRealtime
    RestrictSUIDSGID RootDirectory RootDirectoryStartOnly RootEphemeral RootHash
    RootHashSignature RootImage RootImageOptions RootImagePolicy RootVerity RuntimeDirectory
    RuntimeDirectoryMode RuntimeDirectoryPreserve RuntimeMaxSec RuntimeRandomizedExtraSec
    SELinuxContext SecureBits SendSIGHUP SendSIGKILL SetCredential SetCredentialEncrypted
    SetLoginEnvironment Slice SmackProcessLabel SocketBindAllow SocketBindDeny Sockets
    StandardError StandardInput StandardInputData StandardInputText StandardOutput
    StartLimitAction StartLimitBurst StartLimitInterval StartupAllowedCPUs
    StartupAllowedMemoryNodes StartupBlockIOWeight StartupCPUShares StartupCPUWeight
    StartupIOWeight StartupMemoryHigh StartupMemoryLow StartupMemoryMax StartupMemorySwapMax
    StartupMemoryZSwapMax StateDirectory StateDirectoryMode SuccessExitStatus
    SupplementaryGroups SyslogFacility SyslogIdentifier SyslogLevel SyslogLevelPrefix
    SystemCallArchitectures SystemCallErrorNumber SystemCallFilter SystemCallLog TTYColumns
    TTYPath TTYReset TTYRows TTYVHangup TTYVTDisallocate TasksAccounting TasksMax
    TemporaryFileSystem TimeoutAbortSec TimeoutCleanSec TimeoutSec TimeoutStartFailureMode
    TimeoutStartSec TimeoutStopFailureMode TimeoutStopSec TimerSlackNSec Type UMask
    USBFunctionDescriptors USBFunctionStrings UnsetEnvironment User UtmpIdentifier UtmpMode
    WatchdogSec WatchdogSignal WorkingDirectory
    """
)

INSTALL_KEYS = _words(
    """
    Alias Also DefaultInstance RequiredBy UpheldBy WantedBy
    """
)
